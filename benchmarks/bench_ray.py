"""Local scan vs the Ray Data scan on the same JPEGs and the same machine, same run.

(a) local: `vv.scan` (threaded decode overlapped with batched inference);
(b) Ray, 1 encoder actor; (c) Ray, 2 encoder actors — each a full scan into a fresh library
(read + hash + decode + colours + preprocess + both models + keywords + inserts), walk included.
Connecting to / starting Ray is done once before and reported apart; every Ray scan pays its own
actor start and model load (that is part of what a scan costs). Runs alternate (a), (b), (c) and
the best of --repeat is kept. Overhead = (b) / (a) - 1. "inference s" is the time inside the
encoders (summed over actors); "actor start s" the slowest actor's constructor (imports, model
load, first run), not counting the time Ray takes to start its process.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_ray.py    # tiny models
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_ray.py \\
        --models-dir /tmp/vv_realarch/quantized --n 48

Ray: $RAY_ADDRESS / --address (an existing cluster), else a local Ray with --num-cpus (default:
all CPUs). With tiny models inference is nearly free, so (b)/(a) shows Ray's fixed costs
(actor start, scheduling, transfers); with real-size models it shows the steady-state overhead.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_scan import NEEDED, make_images  # noqa: E402

import vectorvision_widget.scanning.ray as distributed  # noqa: E402
from vectorvision_widget.library.store import Library  # noqa: E402
from vectorvision_widget.models.encoders import Encoders  # noqa: E402
from vectorvision_widget.models.keywords import KeywordTagger  # noqa: E402
from vectorvision_widget.scanning.engines import scan as scan_local  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling benchutil, also under runpy
from benchutil import blas_kernel as blas  # noqa: E402


def run(
    engine: str, folder: Path, enc: Encoders, tagger: KeywordTagger, batch: int, **kw: Any
) -> tuple[float, dict[str, float]]:
    """Seconds for one full scan into a fresh library (walk included) and its timings."""
    lib = Library()
    t0 = time.perf_counter()
    if engine == "local":
        report = scan_local(
            folder, lib, encoders=enc, keywords=tagger, progress=False, batch_size=batch
        )
    else:
        report = distributed.scan_ray(
            folder, lib, encoders=enc, keywords=tagger, progress=False, batch_size=batch, **kw
        )
    seconds = time.perf_counter() - t0
    if report.failed or report.interrupted:
        msg = f"{engine}: benchmark images failed to scan: {report.failed[:3]}"
        raise SystemExit(msg)
    return seconds, report.timings


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--models-dir", type=Path, help="models folder (default: tiny test models)")
    p.add_argument("--n", type=int, default=48, help="number of JPEGs (default 48)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--repeat", type=int, default=2, help="alternate the runs N times, keep best")
    p.add_argument("--address", default=None, help="Ray cluster (default: $RAY_ADDRESS or local)")
    p.add_argument("--num-cpus", type=int, default=None, help="CPUs of a local Ray (default all)")
    p.add_argument("--images-dir", type=Path, default=None, help="where to generate the JPEGs")
    args = p.parse_args(argv)

    tmp = Path(tempfile.gettempdir())
    images_dir = args.images_dir or tmp / f"vv_bench_ray_{args.n}"
    files = make_images(images_dir, args.n)
    for stray in set(images_dir.iterdir()) - set(files):
        stray.unlink()  # exactly n files in the folder
    mb = sum(f.stat().st_size for f in files) / 1e6
    if args.models_dir is None:
        from tiny_models import build_tiny_models

        models_dir, label = build_tiny_models(tmp / "vv_bench_ray_tiny").folder, "tiny test models"
    else:
        models_dir, label = args.models_dir, str(args.models_dir)
        missing = [n for n in NEEDED if not (models_dir / n).is_file()]
        if missing:
            p.error(f"{models_dir} lacks {', '.join(missing)}")
    enc = Encoders.load(models_dir, batch_size=args.batch_size)
    tagger = KeywordTagger(enc, cache_dir=tmp / "vv_bench_ray_cache")
    tagger.embeddings  # noqa: B018  label vectors once, outside the timings
    warm = enc.preprocess_image(enc.load_image(files[0]))
    enc.encode_pixels(warm[0][None], warm[1][None])  # local sessions created outside the timings

    t0 = time.perf_counter()
    address = distributed.connect(args.address, num_cpus=args.num_cpus)
    connect_s = time.perf_counter() - t0
    import ray

    cpus, nodes = ray.cluster_resources().get("CPU", 0), len(ray.nodes())
    runs: dict[str, dict[str, Any]] = {
        "local": {},
        "ray, 1 actor": {"num_actors": 1},
        "ray, 2 actors": {"num_actors": 2},
    }
    best: dict[str, tuple[float, dict[str, float]]] = {}
    for _ in range(args.repeat):
        for name, kw in runs.items():
            got = run(
                "local" if name == "local" else "ray",
                images_dir,
                enc,
                tagger,
                args.batch_size,
                **kw,
            )
            if name not in best or got[0] < best[name][0]:
                best[name] = got

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"{len(files)} JPEGs ({mb:.0f} MB, 1-12 MP) in {images_dir}; models: {label}; "
        f"batch {args.batch_size}; best of {args.repeat}"
    )
    print(
        f"ray: {address}, {nodes} node(s), {cpus:g} CPUs; connect/start {connect_s:.1f} s "
        f"(not in the timings)"
    )
    print(f"machine: {os.cpu_count()} CPUs, load {load:.1f}; BLAS: {blas()}")
    base = best["local"][0]
    print(
        "\n| run | seconds | images/s | vs local | inference s | actor start s | actors | nodes |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, (seconds, t) in best.items():
        ratio = f"{(seconds / base - 1) * 100:+.0f} %" if name != "local" else "baseline"
        used = "- | - | -"
        if name != "local":
            used = f"{t['actor_start_s']:.1f} | {t['actors']:.0f} | {t['nodes']:.0f}"
        print(
            f"| {name} | {seconds:.2f} | {len(files) / seconds:.1f} | {ratio} | "
            f"{t.get('inference_s', 0):.2f} | {used} |"
        )
    one, two = best["ray, 1 actor"][0], best["ray, 2 actors"][0]
    print(f"\n2 actors vs 1: {one / two:.2f}x the throughput")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
