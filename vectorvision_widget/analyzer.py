"""Scanning folders into a library: discovery, the decode→infer pipeline, keywords, rescans.

Why this shape: on a CPU the two vision models are the bottleneck, and decoding a camera JPEG is
~20 % of the per-image cost. So decoding, colour extraction and preprocessing run in a small
thread pool (Pillow and numpy release the GIL) while the calling thread runs batched inference
(onnxruntime releases it too); at most `2 * workers + batch_size` images are in flight, so memory
stays bounded whatever the folder size. Results are consumed in file order, which keeps scans
deterministic.

Incremental: a file whose size and mtime match its record (and whose record has visual
features) is not touched; changed files are re-embedded; records of files that vanished from the
folder are removed; `force=True` re-analyses everything. A file that cannot be decoded is
reported in `report.failed` (and `lib.failures`) and the scan goes on. Ctrl-C (KeyboardInterrupt)
stops the scan and keeps what was done: the report comes back with `interrupted=True`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from . import colors
from .images import DEFAULT_MAX_PIXELS, ImageDecodeError, open_image, required_size
from .keywords import KeywordTagger
from .library import Library
from .models import DINOV2_SMALL, SIGLIP_VISION
from .walk import iter_image_files

ProgressCallback = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Failure:
    """One file that could not be indexed, and why."""

    path: str
    error: str


@dataclass
class ScanReport:
    """What a scan did. Paths are absolute strings."""

    folder: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)
    unchanged: int = 0
    interrupted: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    trace: list[tuple[str, float, float]] = field(default_factory=list)

    def summary(self) -> str:
        """One line for logs and the CLI."""
        rate = self.timings.get("images_per_s", 0.0)
        text = (
            f"{self.folder}: {len(self.added)} added, {len(self.updated)} updated, "
            f"{len(self.removed)} removed, {self.unchanged} unchanged, {len(self.failed)} failed "
            f"in {self.timings.get('total_s', 0.0):.1f} s ({rate:.1f} images/s)"
        )
        return text + (" — interrupted, partial results kept" if self.interrupted else "")

    def __repr__(self) -> str:
        return f"ScanReport({self.summary()})"


@dataclass
class _Decoded:
    """A decoded, preprocessed image waiting for inference (the worker's output)."""

    path: str
    record: dict[str, Any]
    siglip: np.ndarray
    dino: np.ndarray
    seconds: float  # worker time spent reading, hashing, decoding and preprocessing


def _display_size(img: Image.Image) -> tuple[int, int]:
    """Full-resolution width/height as displayed (EXIF rotation applied, JPEG draft undone).

    `original_size` is the stored (header) size; the decoded image may be a reduced draft and
    may be rotated by 90°. The orientation is the one whose aspect ratio matches the decoded
    pixels best (exact when nothing was drafted).
    """
    w, h = img.info.get("original_size", img.size)
    same = abs(img.width * h - img.height * w)
    swapped = abs(img.width * w - img.height * h)
    return (int(h), int(w)) if swapped < same else (int(w), int(h))


def _decode(
    path: str, stat: os.stat_result, encoders: Any, max_pixels: int | None, trace: list | None
) -> _Decoded | Failure:
    """Worker: read the file once, hash it, decode, extract colours, preprocess for both models."""
    t0 = time.perf_counter()
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:  # Linux names are bytes; a library (JSON) file could not save it
        shown = os.fsencode(path).decode("utf-8", "backslashreplace")
        return Failure(shown, "file name is not valid UTF-8; rename the file to index it")
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return Failure(path, f"cannot read file ({exc.strerror or exc})")
    if not data:
        return Failure(path, "empty file (0 bytes)")
    try:
        buf = io.BytesIO(data)
        buf.name = path  # lets decode errors name the file
        min_size = required_size(SIGLIP_VISION.preprocess, DINOV2_SMALL.preprocess)  # type: ignore[arg-type]
        img = open_image(buf, max_pixels=max_pixels, min_size=min_size)
        siglip, dino = encoders.preprocess_image(img)
        width, height = _display_size(img)
        # colours from a box-reduced copy: exact averages, and ~10× cheaper than a thumbnail()
        small = img.reduce(max(1, max(img.size) // 256)) if max(img.size) > 512 else img
        record = {
            "path": path,
            "color": colors.average_colour(small),
            "palette": colors.palette(small, n=5),
            "width": width,
            "height": height,
            "size": stat.st_size,
            "mtime": stat.st_mtime,
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    except ImageDecodeError as exc:
        reason = str(exc)
        return Failure(path, reason[len(path) + 2 :] if reason.startswith(path + ": ") else reason)
    except Exception as exc:  # Pillow plugins raise many types on hostile files; never abort
        return Failure(path, f"cannot decode image ({type(exc).__name__}: {exc})")
    t1 = time.perf_counter()
    if trace is not None:
        trace.append(("decode", t0, t1))
    return _Decoded(path, record, siglip, dino, t1 - t0)


#: Niceness added to the decode threads (Linux). On a CPU-only machine the onnxruntime threads
#: split every operator evenly across the cores; a decode thread holding one core makes the whole
#: operator wait for that straggler. Lower-priority decoders run in the gaps instead.
DECODE_NICENESS = 10


def _lower_priority() -> None:
    """Thread initializer: lower this decode thread's priority (per-thread on Linux only)."""
    if DECODE_NICENESS and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), DECODE_NICENESS)


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _is_unchanged(lib: Library, path: str, stat: os.stat_result) -> bool:
    row = lib.row_of(path)
    if row is None or not lib.has_visual[row]:
        return False
    rec = lib.records[row]
    return rec.get("size") == stat.st_size and rec.get("mtime") == stat.st_mtime


def scan(
    folder: str | os.PathLike[str],
    lib: Library,
    encoders: Any = None,
    force: bool = False,
    *,
    keywords: Sequence[str] | KeywordTagger | None = None,
    progress: bool = True,
    on_progress: ProgressCallback | None = None,
    workers: int | None = None,
    batch_size: int | None = None,
    trace: bool = False,
) -> ScanReport:
    """Scan `folder` (recursively) into `lib`; see the module docstring for the rules.

    `encoders`: an `Encoders` (default: `Encoders.load()`); `keywords`: a label list or a
    `KeywordTagger` (default: the bundled vocabulary); `on_progress(done, total, path)` is called
    after each examined file, failures included (the widget's progress bar); `workers` decode
    threads (default min(4, CPUs)); `batch_size` images per inference call (default the encoders');
    `trace=True` records decode/inference intervals in `report.trace` (tests, benchmarks).

    Returns a `ScanReport`; `report.timings` holds `walk_s`, `decode_s` (worker time, summed over
    threads), `decode_wait_s` (time inference waited for decoded images), `inference_s`,
    `keywords_s`, `total_s` and `images_per_s`. KeyboardInterrupt does not propagate: the report
    comes back with `interrupted=True` and every image embedded so far stays in `lib`.
    Raises NotADirectoryError for a missing folder and `library.ModelMismatchError` when `lib`
    holds vectors of other model files (unless `force=True`).
    """
    t_start = time.perf_counter()
    if encoders is None:
        from .encoders import Encoders

        encoders = Encoders.load()
    # normpath, not resolve(): "a/../photos" and "photos/" name the same root (no duplicate
    # records), while a root reached through a symlink keeps the name the user gave it
    root_path = Path(os.path.normpath(Path(folder).expanduser().absolute()))
    if not root_path.is_dir():
        msg = f"cannot scan {root_path}: not an existing folder"
        raise NotADirectoryError(msg)
    root = str(root_path)
    report = ScanReport(folder=root)
    tagger = keywords if isinstance(keywords, KeywordTagger) else KeywordTagger(encoders, keywords)

    lib.set_models(encoders.provenance(), replace=force)
    if root not in lib.roots:
        lib.roots.append(root)

    # 1. discovery and the incremental decision
    found: dict[str, os.stat_result] = {}
    for p in iter_image_files(root_path):
        try:
            found[str(p)] = p.stat()
        except OSError:
            continue
    gone = [p for p in lib.paths if _under(p, root) and p not in found]
    if gone:
        lib.remove(gone)
        report.removed.extend(gone)
    todo = [p for p, st in found.items() if force or not _is_unchanged(lib, p, st)]
    report.unchanged = len(found) - len(todo)
    t_walk = time.perf_counter()

    # 2. the pipeline
    timings = {"decode_s": 0.0, "decode_wait_s": 0.0, "inference_s": 0.0, "keywords_s": 0.0}
    failures: list[Failure] = []
    try:
        _run_pipeline(
            todo, found, lib, encoders, tagger, report, failures, timings,
            progress=progress, on_progress=on_progress, workers=workers,
            batch_size=batch_size or encoders.batch_size, trace=trace,
        )  # fmt: skip
    except KeyboardInterrupt:
        report.interrupted = True
    report.failed = failures
    # old failures under this root are superseded, except (after an interruption) those of files
    # that still exist and were not looked at again
    examined = {*report.added, *report.updated, *(f.path for f in failures)}
    kept = [
        f
        for f in lib.failures
        if not _under(f.get("path", ""), root)
        or (report.interrupted and f.get("path") in found and f.get("path") not in examined)
    ]
    lib.failures = kept + [{"path": f.path, "error": f.error} for f in failures]
    total = time.perf_counter() - t_start
    done = len(report.added) + len(report.updated)
    report.timings = {
        "walk_s": t_walk - t_start,
        **timings,
        "total_s": total,
        "images_per_s": done / max(total - (t_walk - t_start), 1e-9) if done else 0.0,
    }
    return report


def _run_pipeline(
    todo: list[str],
    found: dict[str, os.stat_result],
    lib: Library,
    encoders: Any,
    tagger: KeywordTagger,
    report: ScanReport,
    failures: list[Failure],
    timings: dict[str, float],
    *,
    progress: bool,
    on_progress: ProgressCallback | None,
    workers: int | None,
    batch_size: int,
    trace: bool,
) -> None:
    from tqdm.auto import tqdm

    n_workers = workers or max(1, min(4, os.cpu_count() or 1))
    max_in_flight = 2 * n_workers + batch_size
    trace_list = report.trace if trace else None
    max_pixels = getattr(encoders, "max_pixels", DEFAULT_MAX_PIXELS)  # the bomb guard
    bar = tqdm(total=len(todo), unit="img", desc="scanning", disable=not progress or not todo)
    pending: deque[Future[_Decoded | Failure]] = deque()
    batch: list[_Decoded] = []
    done = 0

    def flush() -> None:
        if not batch:
            return
        t0 = time.perf_counter()
        feats, visual = encoders.encode_pixels(
            np.stack([d.siglip for d in batch]), np.stack([d.dino for d in batch])
        )
        t1 = time.perf_counter()
        tags = tagger.tag(feats)
        t2 = time.perf_counter()
        timings["inference_s"] += t1 - t0
        timings["keywords_s"] += t2 - t1
        if trace_list is not None:
            trace_list.append(("inference", t0, t1))
        for item, f, v, kw in zip(batch, feats, visual, tags, strict=True):
            existed = lib.row_of(item.path) is not None
            try:
                lib.upsert({**item.record, "keywords": kw}, f, v)
            except ValueError as exc:  # e.g. a model that returned NaN for this one image
                failures.append(Failure(item.path, f"cannot store its vectors ({exc})"))
                if existed:  # never keep the stale record of a file we could not re-embed
                    lib.remove(item.path)
                    report.removed.append(item.path)
                continue
            (report.updated if existed else report.added).append(item.path)
        batch.clear()

    pool = ThreadPoolExecutor(
        max_workers=n_workers, thread_name_prefix="vv-decode", initializer=_lower_priority
    )

    def submit(path: str) -> None:
        pending.append(pool.submit(_decode, path, found[path], encoders, max_pixels, trace_list))

    try:
        queue = iter(todo)
        for path in queue:
            submit(path)
            if len(pending) >= max_in_flight:
                break
        while pending:
            t0 = time.perf_counter()
            result = pending.popleft().result()
            timings["decode_wait_s"] += time.perf_counter() - t0
            nxt = next(queue, None)
            if nxt is not None:
                submit(nxt)
            if isinstance(result, Failure):
                failures.append(result)
                if lib.row_of(result.path) is not None:  # changed into something unreadable
                    lib.remove(result.path)
                    report.removed.append(result.path)
            else:
                timings["decode_s"] += result.seconds
                batch.append(result)
                if len(batch) >= batch_size:
                    flush()
            done += 1
            bar.update(1)
            if on_progress is not None:
                on_progress(done, len(todo), result.path)
        flush()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
