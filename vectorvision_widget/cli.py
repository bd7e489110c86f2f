"""The `vectorvision` command line: fetch models, scan folders into a library, inspect a library."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _fetch_models(args: argparse.Namespace) -> int:
    from .models import fetch_models

    path = fetch_models(
        variant=args.variant, models_dir=args.models_dir, force=args.force, progress=not args.quiet
    )
    print(f"models ready in {path}")
    return 0


def _scan(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .analyzer import scan
    from .encoders import Encoders
    from .library import Library

    library_path = Path(args.library)
    lib = Library.load(library_path) if library_path.exists() else Library()
    enc = Encoders.load(models_dir=args.models_dir, batch_size=args.batch_size)
    for folder in args.folders:
        report = scan(folder, lib, encoders=enc, force=args.force)
        print(report.summary())
        for failure in report.failed:
            print(f"  failed: {failure.path}: {failure.error}", file=sys.stderr)
    lib.save(library_path)
    print(f"saved {len(lib)} images to {library_path}")
    return 0


def _info(args: argparse.Namespace) -> int:
    from .library import Library

    lib = Library.load(args.library)
    print(lib.describe())
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (separate so tests and docs can inspect it)."""
    parser = argparse.ArgumentParser(
        prog="vectorvision",
        description="Scan image folders with SigLIP + DINOv2 and explore them in Jupyter.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "fetch-models", help="download the ONNX models (the only command that downloads)"
    )
    p.add_argument(
        "--variant",
        default="quantized",
        choices=["quantized", "fp32", "fp16"],
        help="int8 'quantized' (default, best on CPU), fp32, or fp16 (GPU)",
    )
    p.add_argument(
        "--models-dir",
        default=None,
        help="target folder (default: $VECTORVISION_MODELS, else ./models)",
    )
    p.add_argument("--force", action="store_true", help="download again even if files are present")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_fetch_models)

    p = sub.add_parser("scan", help="scan folders into a library file (incremental)")
    p.add_argument("folders", nargs="+", metavar="FOLDER")
    p.add_argument("--library", required=True, metavar="FILE", help="library JSON to update")
    p.add_argument("--models-dir", default=None)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--force", action="store_true", help="re-analyse unchanged files too")
    p.set_defaults(func=_scan)

    p = sub.add_parser("info", help="summarise a library file")
    p.add_argument("library", metavar="FILE")
    p.set_defaults(func=_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `vectorvision` and `python -m vectorvision_widget`."""
    from .errors import VectorVisionError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (VectorVisionError, OSError) as exc:  # bad models, bad library, missing folder
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
