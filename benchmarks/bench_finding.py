"""Finding images: what EXIF reading adds to a scan, and `lib.where` at 100k images.

(1) EXIF: the same camera-like JPEGs (with EXIF: date, offset, camera, GPS) scanned with the
    metadata read as shipped and with it replaced by a no-op, alternately, in one run; the
    ratio of the median scan times is what EXIF reading adds (goal <= 1.05). Also the direct
    cost: `image_metadata` per opened header vs the scan's time per file. Tiny test models by
    default: inference is then nearly free, so the share is an upper bound of a real scan's.
(2) `lib.where` on a synthetic 100k library (100 folders, dates over 5 years, 8 cameras, GPS on
    half, 5 keywords and some tags per image): first query (builds the columns) and the median
    of repeated queries per argument and combined.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_finding.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_scan import camera_like  # noqa: E402
from benchutil import blas_kernel  # noqa: E402

import vectorvision_widget.images.decode as decode  # noqa: E402
from vectorvision_widget.images.metadata import blank_metadata, image_metadata  # noqa: E402
from vectorvision_widget.library.store import Library  # noqa: E402
from vectorvision_widget.models.encoders import Encoders  # noqa: E402
from vectorvision_widget.models.keywords import KeywordTagger  # noqa: E402
from vectorvision_widget.scanning.engines import scan  # noqa: E402

SIZES = [(1280, 960), (2048, 1536), (3024, 2016), (4000, 3000)]


def exif_bytes(i: int) -> bytes:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", f"Canon EOS R{i % 8}"
    ifd = exif.get_ifd(0x8769)
    ifd[0x9003], ifd[0x9011] = f"2023:07:{1 + i % 28:02d} 18:03:21", "+02:00"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "S", (33.0, 51.0, 21.6), "E", (151.0, 12.0, 36.0)
    return exif.tobytes()


def make_images(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        path = folder / f"IMG_{i:04d}.jpg"
        if not path.exists():
            w, h = SIZES[i % len(SIZES)]
            camera_like(w, h, rng).save(path, "JPEG", quality=88, exif=exif_bytes(i))
        out.append(path)
    return out


def scan_seconds(enc: Encoders, tagger: KeywordTagger, folder: Path) -> float:
    lib = Library()
    report = scan(folder, lib, encoders=enc, keywords=tagger, progress=False, thumbs=False)
    if report.failed:
        msg = f"benchmark images failed to scan: {report.failed[:3]}"
        raise SystemExit(msg)
    return report.timings["total_s"] - report.timings["walk_s"]


def bench_exif(n: int, repeat: int, models_dir: Path | None) -> None:
    tmp = Path(tempfile.gettempdir())
    folder = tmp / f"vv_bench_exif_{n}"
    files = make_images(folder, n)
    if models_dir is None:
        from tiny_models import build_tiny_models

        models_dir = build_tiny_models(tmp / "vv_bench_scan_tiny").folder
    enc = Encoders.load(models_dir)
    tagger = KeywordTagger(enc, cache_dir=tmp / "vv_bench_scan_cache")
    tagger.embeddings  # noqa: B018  label vectors once, outside the timings
    with_exif: list[float] = []
    without: list[float] = []
    for i in range(repeat):  # ABBA order: drift in the machine's load hits both alike
        for exif_on in (True, False) if i % 2 == 0 else (False, True):
            if exif_on:
                with_exif.append(scan_seconds(enc, tagger, folder))
                continue
            decode.image_metadata = lambda img: blank_metadata()  # type: ignore[assignment]  # off
            try:
                without.append(scan_seconds(enc, tagger, folder))
            finally:
                decode.image_metadata = image_metadata
    headers = [decode.open_header(f) for f in files]
    for img in headers:
        img.getexif()  # the decoder has parsed IFD0 for the orientation already
    t0 = time.perf_counter()
    for img in headers:
        image_metadata(img)
    direct = (time.perf_counter() - t0) / len(files)
    for img in headers:
        img.close()
    on, off = statistics.median(with_exif), statistics.median(without)
    print(
        f"EXIF: {n} camera-like JPEGs with EXIF (1.2-12 MP), models {models_dir}, "
        f"medians of {repeat}"
    )
    print("| measurement | value |")
    print("|---|---|")
    print(f"| scan with EXIF reading (s) | {on:.2f} |")
    print(f"| scan with it replaced by a no-op (s) | {off:.2f} |")
    print(f"| ratio (goal <= 1.05) | {on / off:.3f} |")
    print(f"| image_metadata per file (µs) | {direct * 1e6:.0f} |")
    print(f"| its share of the scan's time per file | {direct / (on / n) * 100:.2f} % |")


def synthetic(n: int) -> Library:
    rng = np.random.default_rng(0)
    labels = [f"kw{i}" for i in range(300)]
    cams = [f"Camera {i}" for i in range(8)]
    start = np.datetime64("2019-01-01T00:00:00")
    recs: list[dict[str, Any]] = []
    paths = []
    for i in range(n):
        paths.append(f"/photos/{i % 10}/{(i // 10) % 10}/IMG_{i:06d}.jpg")
        when = start + np.timedelta64(int(rng.integers(0, 5 * 365 * 86400)), "s")
        rec: dict[str, Any] = {
            "taken": str(when) if rng.random() < 0.9 else None,
            "camera": cams[int(rng.integers(8))],
            "gps": [1.0, 2.0] if rng.random() < 0.5 else None,
            "keywords": [{"label": labels[j], "score": 0.1} for j in rng.integers(0, 300, 5)],
        }
        if rng.random() < 0.05:
            rec["tags"] = ["trip"]
        recs.append(rec)
    return Library.from_arrays(paths, rng.normal(size=(n, 4)).astype(np.float32), records=recs)


def bench_where(n: int, repeat: int) -> None:
    lib = synthetic(n)
    queries = {
        "folder": {"folder": "/photos/3"},
        "taken (a year)": {"taken": ("2021", "2021")},
        "camera": {"camera": ["Camera 1", "Camera 2"]},
        "tags": {"tags": "trip"},
        "keywords": {"keywords": ["kw1", "kw2", "kw3"]},
        "has_gps": {"has_gps": True},
        "all combined": {
            "folder": "/photos/3",
            "taken": ("2021-03", None),
            "camera": "Camera 1",
            "keywords": ["kw1", "kw2"],
            "has_gps": True,
        },
    }
    t0 = time.perf_counter()
    lib.where(**queries["all combined"], tags="trip")
    first = time.perf_counter() - t0
    print(f"\nwhere: {n:,} images; BLAS {blas_kernel()}; medians of {repeat}")
    print("| query | median ms | matches |")
    print("|---|---|---|")
    print(f"| first query (builds every column) | {first * 1e3:.0f} | |")
    for name, kwargs in queries.items():
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            rows = lib.where(**kwargs)
            times.append(time.perf_counter() - t0)
        print(f"| {name} | {statistics.median(times) * 1e3:.1f} | {len(rows):,} |")
    t0 = time.perf_counter()
    lib.tag(range(0, n, 100), "picked")
    tag_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    lib.where(tags="picked", folder="/photos/3")
    after = time.perf_counter() - t0
    print(f"| tag 1% of the images | {tag_s * 1e3:.0f} | |")
    print(f"| first query after the tag (rebuilds the tag index only) | {after * 1e3:.0f} | |")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--n-images", type=int, default=24, help="JPEGs for the EXIF part")
    p.add_argument("--n-library", type=int, default=100_000, help="images for the where part")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--models-dir", type=Path, default=None)
    args = p.parse_args()
    print(f"cores {os.cpu_count()}")
    bench_exif(args.n_images, args.repeat, args.models_dir)
    bench_where(args.n_library, args.repeat * 4)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
