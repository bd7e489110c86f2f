"""Scanning folders into a library: the incremental rules, per-file preparation, applying results.

The scan has three parts, exposed so that every engine (the local one here, Ray Data in
`distributed.py`) gives the same answer:

1. `plan_scan(folder, lib, encoders=..., force=...)`: which files to embed, which records to
   remove, which folders are offline. Pure except that it registers the models and the root.
2. `prepare_file(path, stat, encoders)`: read, hash, decode, colours, preprocess → `Prepared`
   (tensors for both models) or a `Failure`. Thread-safe; runs in workers.
3. `apply_embedded(...)` / `apply_failure(...)`, then `finish_scan(...)`: upsert results (one
   complete row at a time) and keep `lib.failures` up to date.

Incremental: a file whose size and mtime match its record (and whose record has visual
features) is not touched; changed files are re-embedded; `force=True` re-analyses everything.
Offline is not deleted: a missing root, an unreadable subfolder or a dangling symlink keeps its
records and is reported in `report.failed`; only files really gone from a readable folder are
removed. A file that cannot be decoded is reported in `report.failed` (and `lib.failures`) and the
scan goes on. Ctrl-C stops the scan and keeps what was done (`report.interrupted`).
The local decode→infer overlap lives in `pipeline.py`.
"""

from __future__ import annotations

import os
import stat as stat_module
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vectorvision_widget.images.decode import DEFAULT_MAX_PIXELS
from vectorvision_widget.library.store import Library
from vectorvision_widget.models.keywords import KeywordTagger
from vectorvision_widget.models.pipeline import Pipeline, default_workers
from vectorvision_widget.scanning.files import Failure, Prepared, prepare_file, shown, storable
from vectorvision_widget.scanning.walk import WalkProblem, has_image_extension, iter_image_files

__all__ = [
    "Failure",
    "Prepared",
    "ScanPlan",
    "ScanReport",
    "apply_embedded",
    "apply_failure",
    "finish_scan",
    "make_tagger",
    "plan_scan",
    "prepare_file",
    "resolve_root",
    "scan",
    "start_report",
]

ProgressCallback = Callable[[int, int, str], None]


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
    offline: bool = False
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
        if self.offline:
            text += " — folder offline, its records kept"
        return text + (" — interrupted, partial results kept" if self.interrupted else "")

    def __repr__(self) -> str:
        return f"ScanReport({self.summary()})"


@dataclass
class ScanPlan:
    """What a scan of one root will do (see `plan_scan`)."""

    root: str
    found: dict[str, os.stat_result]  #: every image file present, with its stat
    embed: list[str]  #: files to (re-)embed, in walk order
    remove: list[str]  #: records of files really gone from a readable folder
    failed: list[Failure]  #: offline root, unreadable folders, dangling links (records kept)
    kept: list[str]  #: path prefixes whose records are kept although not found (offline)
    unchanged: int
    offline: bool
    walk_s: float


# --------------------------------------------------------------------------- 1. planning


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _is_unchanged(lib: Library, path: str, st: os.stat_result) -> bool:
    row = lib.row_of(path)
    if row is None or not lib.has_visual[row]:
        return False
    rec = lib.records[row]
    return rec.get("size") == st.st_size and rec.get("mtime") == st.st_mtime


def resolve_root(folder: str | os.PathLike[str]) -> str:
    """The absolute, normalised root name (normpath, not resolve(): "a/../photos" and "photos/"
    are one root, while a root reached through a symlink keeps the name the user gave it)."""
    return os.path.normpath(Path(folder).expanduser().absolute())


def _offline_root(root: str, lib: Library) -> str | None:
    """Why `root` is offline (missing, unreadable, or an empty mount point that held images)."""
    try:
        st = os.stat(root)
    except FileNotFoundError:
        return "folder not found (an unmounted drive, or renamed?)"
    except OSError as exc:
        return f"folder cannot be read ({exc.strerror or exc})"
    if not stat_module.S_ISDIR(st.st_mode):
        return "not a folder"
    try:
        with os.scandir(root) as it:
            empty = next(iter(it), None) is None
    except OSError as exc:
        return f"folder cannot be read ({exc.strerror or exc})"
    if empty and os.path.ismount(root) is False and any(_under(p, root) for p in lib.paths):
        parent_dev = os.stat(os.path.dirname(root) or root).st_dev
        if parent_dev == st.st_dev:  # an empty folder on the parent's drive: a mount point?
            return "folder is empty (an unmounted drive?)"
    return None


def plan_scan(
    folder: str | os.PathLike[str], lib: Library, *, encoders: Any, force: bool = False
) -> ScanPlan:
    """Decide what a scan of `folder` does, with the incremental rules of the module docstring.

    Registers the encoders' models (raises `ModelMismatchError` for a library of other model
    files unless `force=True`) and the root in `lib`; changes no record. A missing or unreadable
    root that the library knows (in `lib.roots` or with records under it) gives an offline plan
    (nothing to embed or remove, one failure); an unknown one raises NotADirectoryError.
    """
    t0 = time.perf_counter()
    root = resolve_root(folder)
    known = root in lib.roots or any(_under(p, root) for p in lib.paths)
    why = _offline_root(root, lib)
    if why is not None and not known:
        msg = (
            f"cannot scan {root}: {why.split(' (')[0]}"
            if why != "not a folder"
            else (f"cannot scan {root}: not an existing folder")
        )
        raise NotADirectoryError(msg)
    lib.set_models(encoders.provenance(), replace=force)
    if root not in lib.roots and storable(root) is None:  # else its files fail one by one
        lib.roots.append(root)
    if why is not None:
        n = sum(_under(p, root) for p in lib.paths)
        error = (
            f"{why}; offline: its {n} records are kept (remove them with lib.remove(...) "
            "or `vectorvision scan --prune`)"
        )
        return ScanPlan(
            root,
            {},
            [],
            [],
            [Failure(shown(root), error, kept=True)],
            [root],
            0,
            True,
            time.perf_counter() - t0,
        )
    problems: list[WalkProblem] = []
    found: dict[str, os.stat_result] = {}
    for p in iter_image_files(root, problems.append):
        try:
            found[str(p)] = p.stat()
        except OSError:
            continue
    kept = [pr.path for pr in problems]
    failed = []
    for pr in problems:
        n = sum(_under(p, pr.path) for p in lib.paths)
        if pr.kind == "unreadable" or has_image_extension(pr.path) or n:
            note = f"; {n} records kept" if n and pr.kind == "dangling" else ""
            failed.append(Failure(shown(pr.path), pr.error + note, kept=True))
    gone = [
        p
        for p in lib.paths
        if _under(p, root) and p not in found and not any(_under(p, k) for k in kept)
    ]
    embed = [p for p, st in found.items() if force or not _is_unchanged(lib, p, st)]
    return ScanPlan(
        root,
        found,
        embed,
        gone,
        failed,
        kept,
        len(found) - len(embed),
        False,
        time.perf_counter() - t0,
    )


# --------------------------------------------------------------------------- 3. applying


def make_tagger(encoders: Any, keywords: Sequence[str] | KeywordTagger | None) -> KeywordTagger:
    """The keyword tagger of a scan (a label list, a tagger, or None: the bundled vocabulary)."""
    return keywords if isinstance(keywords, KeywordTagger) else KeywordTagger(encoders, keywords)


def start_report(plan: ScanPlan, lib: Library) -> ScanReport:
    """A report for `plan`, with the removals applied to `lib` (records of files really gone)."""
    report = ScanReport(folder=plan.root, unchanged=plan.unchanged, offline=plan.offline)
    report.failed.extend(plan.failed)
    if plan.remove:
        lib.remove(plan.remove)
        report.removed.extend(plan.remove)
    return report


def apply_embedded(
    lib: Library,
    report: ScanReport,
    prepared: Prepared,
    features: np.ndarray,
    visual: np.ndarray,
    keywords: list[dict[str, Any]],
) -> bool:
    """Upsert one embedded file (one complete row) and note it in `report`; False if refused."""
    path = prepared.path
    existed = lib.row_of(path) is not None
    try:
        lib.upsert({**prepared.record, "keywords": keywords}, features, visual)
    except ValueError as exc:  # e.g. a model that returned NaN for this one image
        apply_failure(lib, report, Failure(path, f"cannot store its vectors ({exc})"))
        return False
    (report.updated if existed else report.added).append(path)
    return True


def apply_failure(lib: Library, report: ScanReport, failure: Failure) -> None:
    """Note a failed file; a record of a file that changed into something unreadable goes."""
    report.failed.append(failure)
    if not failure.kept and lib.row_of(failure.path) is not None:
        lib.remove(failure.path)  # never keep the stale record of a file we could not re-embed
        report.removed.append(failure.path)


def finish_scan(lib: Library, plan: ScanPlan, report: ScanReport, t_start: float) -> ScanReport:
    """Update `lib.failures` (this root's old failures are superseded, except after an
    interruption those of files not looked at again) and fill `report.timings`."""
    root = plan.root
    examined = {*report.added, *report.updated, *(f.path for f in report.failed)}

    def keep(f: dict[str, Any]) -> bool:
        path = f.get("path", "")
        if not _under(path, root):
            return True
        if any(_under(path, k) for k in plan.kept) and path not in examined:
            return True
        return report.interrupted and path in plan.found and path not in examined

    lib.failures = [f for f in lib.failures if keep(f)] + [
        {"path": f.path, "error": f.error} for f in report.failed
    ]
    total = time.perf_counter() - t_start
    done = len(report.added) + len(report.updated)
    report.timings.update(
        walk_s=plan.walk_s,
        total_s=total,
        images_per_s=done / max(total - plan.walk_s, 1e-9) if done else 0.0,
    )
    return report


# --------------------------------------------------------------------------- the local scan


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
    thumbs: Any = None,
) -> ScanReport:
    """Scan `folder` (recursively) into `lib` on this machine; see the module docstring.

    `encoders`: an `Encoders` (default: `Encoders.load()`); `keywords`: a label list or a
    `KeywordTagger` (default: the bundled vocabulary); `on_progress(done, total, path)` is called
    after each examined file, failures included (the widget's progress bar); `workers` decode
    threads (default min(4, CPUs)); `batch_size` images per inference call (default the encoders');
    `trace=True` records decode/inference intervals in `report.trace` (tests, benchmarks);
    `thumbs`: where scan-time thumbnails go (see `resolve_thumbs`; default beside `lib.path`).

    Returns a `ScanReport`; `report.timings` holds `walk_s`, `decode_s` (worker time, summed over
    threads), `decode_wait_s` (time inference waited for decoded images), `inference_s`,
    `keywords_s`, `total_s` and `images_per_s`. KeyboardInterrupt does not propagate: the report
    comes back with `interrupted=True` and every image embedded so far stays in `lib`.
    Raises NotADirectoryError for a folder that is missing and unknown to `lib`, and
    `library.ModelMismatchError` when `lib` holds vectors of other model files (unless `force`).
    """
    t_start = time.perf_counter()
    if encoders is None:
        from vectorvision_widget.models.encoders import Encoders

        encoders = Encoders.load()
    sink = resolve_thumbs(lib, thumbs)
    try:
        plan = plan_scan(folder, lib, encoders=encoders, force=force)
    except KeyboardInterrupt:  # nothing changed yet
        report = ScanReport(folder=resolve_root(folder), interrupted=True)
        return report
    report = ScanReport(folder=plan.root)
    try:
        report = start_report(plan, lib)
        tagger = make_tagger(encoders, keywords)
        size = batch_size or encoders.batch_size
        _run_local(
            plan,
            lib,
            encoders,
            tagger,
            report,
            progress=progress,
            on_progress=on_progress,
            workers=workers,
            batch_size=size,
            trace=trace,
            thumbs=sink,
        )
    except KeyboardInterrupt:
        report.interrupted = True
    finally:
        if sink is not None:
            sink.flush(keep=lib.paths)
    return finish_scan(lib, plan, report, t_start)


def resolve_thumbs(lib: Library, thumbs: Any) -> Any:
    """The thumbnail sink of a scan: `thumbs` itself (an object with make/add/flush, e.g.
    `thumbcache.ThumbWriter`), None for a library with a path (`lib.path`: a writer beside it),
    False for none."""
    if thumbs is False:
        return None
    if thumbs is not None:
        return thumbs
    path = getattr(lib, "path", None)
    if not path:
        return None
    from vectorvision_widget.thumbs.cache import ThumbWriter

    return ThumbWriter(path)


def _run_local(
    plan: ScanPlan,
    lib: Library,
    encoders: Any,
    tagger: KeywordTagger,
    report: ScanReport,
    *,
    progress: bool,
    on_progress: ProgressCallback | None,
    workers: int | None,
    batch_size: int,
    trace: bool,
    thumbs: Any,
) -> None:
    from tqdm.auto import tqdm

    todo = plan.embed
    trace_list = report.trace if trace else None
    max_pixels = getattr(encoders, "max_pixels", DEFAULT_MAX_PIXELS)  # the bomb guard
    bar = tqdm(total=len(todo), unit="img", desc="scanning", disable=not progress or not todo)
    timings = report.timings
    timings.update(decode_s=0.0, keywords_s=0.0)
    done = 0

    make = thumbs.make if thumbs is not None else None

    def prepare(path: str) -> Prepared | Failure:
        return prepare_file(
            path, plan.found[path], encoders, max_pixels=max_pixels, thumbs=make, trace=trace_list
        )

    def infer(batch: list[Prepared]) -> None:
        feats, visual = encoders.encode_pixels(
            np.stack([d.siglip for d in batch]), np.stack([d.dino for d in batch])
        )
        t1 = time.perf_counter()
        tags = tagger.tag(feats)
        timings["keywords_s"] += time.perf_counter() - t1
        for item, f, v, kw in zip(batch, feats, visual, tags, strict=True):
            if apply_embedded(lib, report, item, f, v, kw) and thumbs is not None:
                thumbs.add(item)

    def on_item(path: str, result: Prepared | Failure) -> None:
        nonlocal done
        if isinstance(result, Failure):
            apply_failure(lib, report, result)
        else:
            timings["decode_s"] += result.seconds
        done += 1
        bar.update(1)
        if on_progress is not None:
            on_progress(done, len(todo), result.path)

    pipe: Pipeline[str, Prepared | Failure] = Pipeline(
        prepare,
        infer,
        batch_size=batch_size,
        workers=workers or default_workers(),
        ready=lambda r: isinstance(r, Prepared),
        on_item=on_item,
    )
    pipe.trace = trace_list
    try:
        pipe.run(todo)
    finally:
        bar.close()
        timings["decode_wait_s"] = pipe.timings["decode_wait_s"]
        timings["inference_s"] = pipe.timings["inference_s"] - timings["keywords_s"]
