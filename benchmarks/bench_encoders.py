"""Encoder throughput: inference on preprocessed tensors vs end-to-end `embed_images` on JPEGs.

Same model files, same run, for every models folder given and batch sizes 1/8/32. The ratio
end-to-end / tensors-only shows what decoding + preprocessing costs on top of inference (1.0 would
mean decode is fully hidden behind inference).

    python benchmarks/bench_encoders.py --tiny                      # tiny test models (no download)
    python benchmarks/bench_encoders.py --models-dir models         # a fetched folder
    python benchmarks/bench_encoders.py --models-dir models/quantized --models-dir models/fp32
    python benchmarks/bench_encoders.py --models-dir /tmp/vv_realarch --providers cuda

A folder whose subfolders each hold a model set counts as one variant per subfolder; which models
a folder holds (dinov2-small/base, siglip-base/large) is read from its file names. Run it with
`env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE` (it prints the BLAS kernel in use).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from vectorvision_widget.models.encoders import Encoders  # noqa: E402
from vectorvision_widget.models.specs import SEMANTIC_MODELS, VISUAL_MODELS  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling benchutil, also under runpy
from benchutil import blas_kernel  # noqa: E402

SAMPLES = ROOT / "vectorvision_widget" / "sample"

Variant = tuple[str, Path, str, str]  # label, folder, visual model, semantic model


def _pairs(folder: Path) -> list[tuple[str, str]]:
    """(visual, semantic) model pairs whose files are all in `folder`."""
    if not folder.is_dir():
        return []
    has = {p.name for p in folder.iterdir()}
    looks = [n for n, m in VISUAL_MODELS.items() if set(m.files) <= has]
    meanings = [n for n, m in SEMANTIC_MODELS.items() if set(m.files) <= has]
    return [(v, s) for v in looks for s in meanings]


def variants(folders: list[Path]) -> list[Variant]:
    out = []
    for folder in folders:
        candidates = [folder] if _pairs(folder) else []
        if not candidates and folder.is_dir():
            candidates = [d for d in sorted(folder.iterdir()) if d.is_dir() and _pairs(d)]
        for d in candidates:
            out += [(f"{_label(d)} {v}+{s}", d, v, s) for v, s in _pairs(d)]
    return out


def _label(folder: Path) -> str:
    try:
        files = json.loads((folder / "manifest.json").read_text())["files"]
        return str(next(iter(files.values()))["variant"])
    except (OSError, KeyError, ValueError, TypeError, StopIteration):
        return folder.name


def _rate(n: int, fn: Callable[[], object], repeat: int) -> float:
    """Best of `repeat` runs, in images per second (best = least disturbed by other processes)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n / best


def jpegs(folder: Path, n: int, source: Path) -> list[Path]:
    """n JPEG files (the bundled sample photos, repeated under new names)."""
    pictures = sorted(source.glob("*.jpg"))
    if not pictures:
        msg = f"no .jpg files in {source}"
        raise SystemExit(msg)
    out = []
    for i, src in zip(range(n), itertools.cycle(pictures), strict=False):
        dst = folder / f"{i:04d}_{src.name}"
        dst.write_bytes(src.read_bytes())
        out.append(dst)
    return out


def bench(
    variant: Variant, files: list[Path], batches: list[int], repeat: int, **load: Any
) -> list[tuple]:
    """Rows (label, batch, visual/s, semantic/s, both/s, end-to-end/s, ratio, size, provider)."""
    from PIL import Image

    label, folder, visual, semantic = variant
    enc = Encoders.load(folder, visual=visual, semantic=semantic, **load)
    with_tensors = [enc.preprocess_image(enc.load_image(f)) for f in files]
    sig = np.stack([t[0] for t in with_tensors])
    dino = np.stack([t[1] for t in with_tensors])
    n = len(files)
    with Image.open(files[0]) as first:
        size = f"{first.width}×{first.height}"
    rows = []
    for b in batches:
        enc = Encoders.load(folder, batch_size=b, visual=visual, semantic=semantic, **load)
        enc.encode_pixels(sig[:b], dino[:b])  # create sessions, warm up

        def run(model: str, enc: Encoders = enc, b: int = b) -> None:
            for i in range(0, n, b):
                if model in ("semantic", "both"):
                    enc._run(enc.meaning.vision, sig[i : i + b])
                if model in ("visual", "both"):
                    enc._run(enc.look.model, dino[i : i + b])

        visual_rate = _rate(n, lambda run=run: run("visual"), repeat)
        semantic_rate = _rate(n, lambda run=run: run("semantic"), repeat)
        both = _rate(n, lambda run=run: run("both"), repeat)
        e2e = _rate(n, lambda enc=enc: enc.embed_images(files), repeat)
        rows.append(
            (label, b, visual_rate, semantic_rate, both, e2e, e2e / both, size, enc.providers[0])
        )
    return rows


def print_table(rows: list[tuple]) -> None:
    head = (
        "models",
        "batch",
        "visual",
        "semantic",
        "both (tensors)",
        "end-to-end",
        "e2e/tensors",
        "provider",
    )
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for label, b, v, s, both, e2e, ratio, _size, provider in rows:
        short = provider.replace("ExecutionProvider", "")
        rates = (f"{x:.1f}" for x in (v, s, both, e2e))
        cells = (label, b, *rates, f"{ratio:.2f}", short)
        print("| " + " | ".join(str(c) for c in cells) + " |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--models-dir", action="append", type=Path, default=[])
    p.add_argument("--tiny", action="store_true", help="also bench the tiny test models")
    p.add_argument("--images", type=int, default=64, help="number of JPEG files (default 64)")
    p.add_argument("--images-dir", type=Path, default=SAMPLES, help="where the JPEGs come from")
    p.add_argument("--batches", default="1,8,32")
    p.add_argument("--repeat", type=int, default=3, help="best of N runs (default 3)")
    p.add_argument("--providers", default=None, help="cuda or cpu (default: CUDA when offered)")
    args = p.parse_args(argv)
    batches = [int(b) for b in args.batches.split(",")]
    load = {"providers": args.providers} if args.providers else {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        folders = list(args.models_dir)
        if args.tiny:
            from tiny_models import build_tiny_models

            folders.append(build_tiny_models(tmp_path / "tiny").folder)
        found = variants(folders)
        if not found:
            p.error("no folder with a visual + semantic model set; pass --models-dir DIR or --tiny")
        files = jpegs(tmp_path, args.images, args.images_dir)
        rows = [r for v in found for r in bench(v, files, batches, args.repeat, **load)]
    print(f"{len(files)} JPEGs from {args.images_dir} (first {rows[0][7]}), best of {args.repeat};")
    print(f"images/s; BLAS: {blas_kernel()}")
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
