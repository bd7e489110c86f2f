"""The `vectorvision` command line: fetch models, scan folders into a library, inspect a library.

`scan` validates everything before any work (folders, the library's folder, the library file,
the models, the batch size) and exits 2 with a one-line message; it holds the library's lock for
the whole scan (a second scan of the same file waits, saying so); an interrupted or partly failed
scan saves the work already done (atomically) and says so. User errors never print a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vectorvision_widget.scanning.procedure import ScanReport

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
_RAY_NAMES = ("auto", "local")


class UsageError(Exception):
    """A user error found before any work: one line, exit 2."""


def _fetch_models(args: argparse.Namespace) -> int:
    from vectorvision_widget.models.fetch import fetch_models

    path = fetch_models(
        variant=args.variant,
        models_dir=args.models_dir,
        force=args.force,
        progress=not args.quiet,
        visual=args.visual,
        semantic=args.semantic,
    )
    print(f"models ready in {path}")
    return 0


# --------------------------------------------------------------------------- scan: validation


def _looks_like_ray_address(text: str) -> bool:
    return text in _RAY_NAMES or "://" in text or (":" in text and not os.path.isdir(text))


def _split_ray(args: argparse.Namespace) -> None:
    """`--ray FOLDER` (no address given, argparse took the folder): give the folder back."""
    if args.ray and not _looks_like_ray_address(args.ray):
        args.folders.insert(0, args.ray)
        args.ray = ""


def _validate_scan(args: argparse.Namespace) -> tuple[list[str], Path]:
    """Everything that can be checked before work; raises UsageError naming the problem."""
    if args.ray is not None:
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            msg = '--ray needs Ray: pip install "vectorvision-widget[ray]"'
            raise UsageError(msg)
    if args.batch_size < 1:
        msg = f"--batch-size must be >= 1, got {args.batch_size}"
        raise UsageError(msg)
    if not args.folders:
        msg = "give at least one FOLDER to scan"
        raise UsageError(msg)
    folders = []
    for folder in args.folders:
        path = Path(folder).expanduser()
        if not path.exists() and not args.prune:
            msg = f"folder {folder} does not exist (an unmounted drive? --prune forgets it)"
            raise UsageError(msg)
        if path.exists() and not path.is_dir():
            msg = f"{folder} is not a folder"
            raise UsageError(msg)
        if path.exists() and not os.access(path, os.R_OK | os.X_OK):
            msg = f"folder {folder} cannot be read (permission denied)"
            raise UsageError(msg)
        folders.append(folder)
    library = Path(args.library).expanduser()
    parent = library.absolute().parent
    if library.is_dir():
        msg = (
            f"--library {args.library} is a folder; give a file name such as {library}/library.json"
        )
        raise UsageError(msg)
    if not parent.is_dir():
        msg = f"the library's folder {parent} does not exist; create it first"
        raise UsageError(msg)
    if not os.access(parent, os.W_OK | os.X_OK):
        msg = f"the library's folder {parent} is not writable"
        raise UsageError(msg)
    if library.exists() and not os.access(library, os.R_OK):
        msg = f"the library file {library} cannot be read (permission denied)"
        raise UsageError(msg)
    return folders, library


@contextlib.contextmanager
def library_lock(path: Path) -> Iterator[Path]:
    """Hold the library's lock (`library.lock`: one writer per library file) for a whole scan,
    saying so on stderr while waiting for another scan; yields the lock file."""
    from vectorvision_widget.library.lock import library_lock as lock

    def on_wait(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    with lock(path, on_wait=on_wait) as lock_path:
        yield lock_path


# --------------------------------------------------------------------------- scan


def _print_report(report: ScanReport, pruned: list[str]) -> None:
    if pruned:
        print(f"pruned {len(pruned)} records of offline {report.folder}")
    print(report.summary())
    for failure in report.failed:
        print(f"  failed: {failure.path}: {failure.error}", file=sys.stderr)


def _scan(args: argparse.Namespace) -> int:
    from vectorvision_widget.library.store import Library
    from vectorvision_widget.models.encoders import Encoders
    from vectorvision_widget.scanning.rescan import rescan

    _split_ray(args)
    folders, library = _validate_scan(args)
    with library_lock(library):
        lib = Library.load(library) if library.exists() else Library()
        if lib.path is None:
            lib.path = library  # saves go there; the scan keeps its thumbnails beside it
        enc = Encoders.load(models_dir=args.models_dir, batch_size=args.batch_size)
        done = rescan(
            lib,
            enc,
            folders,
            force=args.force,
            engine="ray" if args.ray is not None else "local",
            ray_address=args.ray or None,
            prune=args.prune,
            refresh_metadata=args.refresh_metadata,
            progress=not args.quiet,
            on_report=_print_report,
        )
    if args.refresh_metadata:
        print(f"refreshed the photo metadata of {done.refreshed} unchanged images")
    why = ""
    if done.error is not None:
        print(f"error: {done.error}", file=sys.stderr)
        why = " — the work done before the error is kept"
    elif done.interrupted:
        why = " — interrupted: the work done so far is kept; rerun to finish"
    if done.saved is not None:
        print(f"saved {len(lib)} images to {library}{why}")
    elif done.interrupted:
        print("interrupted before any image changed: nothing saved", file=sys.stderr)
    if done.error is not None:
        return EXIT_USAGE
    return EXIT_INTERRUPTED if done.interrupted else 0


def _info(args: argparse.Namespace) -> int:
    from vectorvision_widget.library.store import Library

    if not Path(args.library).expanduser().is_file():
        msg = (
            f"no library file {args.library}; make one with "
            f"`vectorvision scan FOLDER --library {args.library}`"
        )
        raise UsageError(msg)
    lib = Library.load(Path(args.library).expanduser())
    print(lib.describe())
    return 0


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (separate so tests and docs can inspect it)."""
    from importlib.metadata import PackageNotFoundError, version

    try:  # the one version source (as vectorvision_widget.__version__, which cli may not import)
        __version__ = version("vectorvision-widget")
    except PackageNotFoundError:  # a source tree without an install
        __version__ = "0.0.0"
    from vectorvision_widget.models.specs import SEMANTIC_MODELS, VISUAL_MODELS

    parser = argparse.ArgumentParser(
        prog="vectorvision",
        description="Scan image folders with SigLIP + DINOv2 and explore them in Jupyter.",
        epilog="`vectorvision COMMAND --help` explains each command's arguments.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}", help="print the version"
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
        "--visual",
        default=None,
        choices=sorted(VISUAL_MODELS),
        help="the visual (look-alike) model (default dinov2-small)",
    )
    p.add_argument(
        "--semantic",
        default=None,
        choices=sorted(SEMANTIC_MODELS),
        help="the semantic (meaning, text) model (default siglip-base)",
    )
    p.add_argument(
        "--models-dir",
        default=None,
        metavar="DIR",
        help="target folder (default: $VECTORVISION_MODELS, else ./models)",
    )
    p.add_argument("--force", action="store_true", help="download again even if files are present")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_fetch_models)

    p = sub.add_parser(
        "scan",
        help="scan folders into a library file (incremental)",
        description="Scan folders into a library file (incremental). Holds the library's lock "
        "for the whole scan; Ctrl-C saves the work done so far.",
    )
    p.add_argument(  # "*": `--ray FOLDER` is split later
        "folders",
        nargs="*",
        metavar="FOLDER",
        help="folders of images to scan (subfolders too); only new and changed files are embedded",
    )
    p.add_argument(
        "--library",
        required=True,
        metavar="FILE",
        help="the library JSON file to create or update (saved atomically)",
    )
    p.add_argument(
        "--models-dir",
        default=None,
        metavar="DIR",
        help="folder with the models (default: $VECTORVISION_MODELS, else ./models; "
        "`vectorvision fetch-models` fills it)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=16,
        metavar="N",
        help="images per model run (default 16; 1-8 is best on a CPU, 64 on a GPU)",
    )
    p.add_argument("--force", action="store_true", help="re-analyse unchanged files too")
    p.add_argument(
        "--prune",
        action="store_true",
        help="forget the records of offline folders (missing or unreadable); by default they "
        "are kept",
    )
    p.add_argument(
        "--refresh-metadata",
        action="store_true",
        help="re-read the photo metadata (date, camera, GPS, size) of unchanged files too, "
        "without re-embedding them",
    )
    p.add_argument(
        "--ray",
        nargs="?",
        const="",
        default=None,
        metavar="ADDRESS",
        help="scan on Ray Data: the cluster at ADDRESS (e.g. auto, ray://host:10001), else "
        "$RAY_ADDRESS, else a local Ray",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_scan)

    p = sub.add_parser("info", help="summarise a library file")
    p.add_argument("library", metavar="FILE", help="the library JSON file to describe")
    p.set_defaults(func=_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `vectorvision` and `python -m vectorvision_widget`."""
    from vectorvision_widget.errors import InterruptedAfterSave, VectorVisionError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (VectorVisionError, OSError, ValueError) as exc:  # bad models, library, folder
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except InterruptedAfterSave as stop:
        print(f"interrupted after saving {stop.path}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print("interrupted (nothing saved)", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())
