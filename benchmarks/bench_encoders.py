"""Encoder throughput: inference on preprocessed tensors vs end-to-end `embed_images` on JPEGs.

Same model files, same run, for every models folder given and batch sizes 1/8/32. The ratio
end-to-end / tensors-only shows what decoding + preprocessing costs on top of inference (1.0 would
mean decode is fully hidden behind inference).

    python benchmarks/bench_encoders.py --tiny                      # tiny test models (no download)
    python benchmarks/bench_encoders.py --models-dir models         # a fetched folder
    python benchmarks/bench_encoders.py --models-dir models/quantized --models-dir models/fp32

A folder whose subfolders each hold a model set counts as one variant per subfolder.
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

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from vectorvision_widget.encoders import Encoders  # noqa: E402

SAMPLES = ROOT / "vectorvision_widget" / "sample"
NEEDED = ("dinov2_small.onnx", "siglip_vision.onnx", "siglip_text.onnx", "siglip_tokenizer.json")


def _variants(folders: list[Path]) -> list[tuple[str, Path]]:
    out = []
    for folder in folders:
        if all((folder / n).is_file() for n in NEEDED):
            out.append((_label(folder), folder))
        else:
            subs = [d for d in sorted(folder.iterdir()) if d.is_dir()] if folder.is_dir() else []
            out += [(_label(d), d) for d in subs if all((d / n).is_file() for n in NEEDED)]
    return out


def _label(folder: Path) -> str:
    try:
        files = json.loads((folder / "manifest.json").read_text())["files"]
        return str(files["siglip_vision.onnx"]["variant"])
    except (OSError, KeyError, ValueError, TypeError):
        return folder.name


def _rate(n: int, fn: Callable[[], object], repeat: int) -> float:
    """Best of `repeat` runs, in images per second (best = least disturbed by other processes)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n / best


def _jpegs(folder: Path, n: int, source: Path) -> list[Path]:
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


def bench(label: str, folder: Path, files: list[Path], batches: list[int], repeat: int) -> list:
    from PIL import Image

    rows = []
    enc = Encoders.load(folder)
    with_tensors = [enc.preprocess_image(enc.load_image(f)) for f in files]
    sig = np.stack([t[0] for t in with_tensors])
    dino = np.stack([t[1] for t in with_tensors])
    n = len(files)
    with Image.open(files[0]) as probe:
        size = f"{probe.width}×{probe.height}"
    for b in batches:
        enc = Encoders.load(folder, batch_size=b)
        enc.encode_pixels(sig[:b], dino[:b])  # create sessions, warm up

        def run(model: str, enc: Encoders = enc, b: int = b) -> None:
            for i in range(0, n, b):
                if model in ("siglip", "both"):
                    enc._run(_spec("siglip"), sig[i : i + b])
                if model in ("dinov2", "both"):
                    enc._run(_spec("dinov2"), dino[i : i + b])

        dino_rate = _rate(n, lambda run=run: run("dinov2"), repeat)
        sig_rate = _rate(n, lambda run=run: run("siglip"), repeat)
        both = _rate(n, lambda run=run: run("both"), repeat)
        e2e = _rate(n, lambda enc=enc: enc.embed_images(files), repeat)
        rows.append((label, b, dino_rate, sig_rate, both, e2e, e2e / both, size, enc.providers[0]))
    return rows


def _spec(name: str) -> object:
    from vectorvision_widget.models import DINOV2_SMALL, SIGLIP_VISION

    return DINOV2_SMALL if name == "dinov2" else SIGLIP_VISION


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--models-dir", action="append", type=Path, default=[])
    p.add_argument("--tiny", action="store_true", help="also bench the tiny test models")
    p.add_argument("--images", type=int, default=64, help="number of JPEG files (default 64)")
    p.add_argument("--images-dir", type=Path, default=SAMPLES, help="where the JPEGs come from")
    p.add_argument("--batches", default="1,8,32")
    p.add_argument("--repeat", type=int, default=3, help="best of N runs (default 3)")
    args = p.parse_args(argv)
    batches = [int(b) for b in args.batches.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        folders = list(args.models_dir)
        if args.tiny:
            from tiny_models import build_tiny_models

            folders.append(build_tiny_models(tmp_path / "tiny").folder)
        variants = _variants(folders)
        if not variants:
            p.error("no model folder with the four files; pass --models-dir DIR or --tiny")
        files = _jpegs(tmp_path, args.images, args.images_dir)
        rows = [r for label, f in variants for r in bench(label, f, files, batches, args.repeat)]
    print(f"{len(files)} JPEGs from {args.images_dir}, best of {args.repeat}; images/s")
    head = ("variant", "batch", "dinov2", "siglip", "both (tensors)", "end-to-end", "e2e/tensors")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for label, b, d, s, both, e2e, ratio, _size, _provider in rows:
        print(f"| {label} | {b} | {d:.1f} | {s:.1f} | {both:.1f} | {e2e:.1f} | {ratio:.2f} |")
    print(f"first image {rows[0][7]}; provider {rows[0][8]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
