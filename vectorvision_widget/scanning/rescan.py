"""One rescan for the command line and the widget: scan folders into a library, then save it.

`rescan(lib, encoders)` scans every root of `lib` (or the `folders` given) with `vv.scan`,
holding the library file's writer lock for the whole run (one writer per file; re-entrant, so a
caller may already hold it, as the CLI does while loading), and saves to `lib.path` when the
library has one. The work done is saved also when the run stops early: Ctrl-C, a cancelled
widget job, or an error in a later folder (the error is then returned in `Rescan.error`).
A rescan that changed nothing (no row, root or failure) writes nothing: the file keeps its
bytes and its modification time, so backups, sync tools and other readers see no change; one
stopped (Ctrl-C, an error) before any row changed writes nothing either.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from vectorvision_widget.errors import InterruptedAfterSave
from vectorvision_widget.scanning import engines
from vectorvision_widget.scanning.plan import under
from vectorvision_widget.scanning.procedure import ProgressCallback, ScanReport

if TYPE_CHECKING:
    from vectorvision_widget.library.store import Library
    from vectorvision_widget.models.encoders import Encoders

__all__ = ["Rescan", "merge_reports", "prune_offline", "rescan"]


@dataclass
class Rescan:
    """What a rescan did: one report per folder scanned, where it saved, why it stopped."""

    reports: list[ScanReport] = field(default_factory=list)
    saved: Path | None = None  #: the file written (None: no file, or nothing changed)
    interrupted: bool = False  #: Ctrl-C (or an interrupted scan): the work done is saved
    error: Exception | None = None  #: what stopped it after some work (that work is saved)
    refreshed: int = 0  #: records whose photo metadata was re-read (`refresh_metadata=True`)

    @property
    def report(self) -> ScanReport | None:
        """One report for all folders (None when no folder was scanned)."""
        return merge_reports(self.reports) if self.reports else None


def merge_reports(reports: Sequence[ScanReport]) -> ScanReport:
    """One report for several roots: lists concatenated, counts summed, flags or-ed."""
    if len(reports) == 1:
        return reports[0]
    merged = dataclasses.replace(reports[0], folder=", ".join(r.folder for r in reports))
    merged.added = [p for r in reports for p in r.added]
    merged.updated = [p for r in reports for p in r.updated]
    merged.removed = [p for r in reports for p in r.removed]
    merged.failed = [f for r in reports for f in r.failed]
    merged.unchanged = sum(r.unchanged for r in reports)
    merged.interrupted = any(r.interrupted for r in reports)
    merged.offline = any(r.offline for r in reports)
    return merged


def prune_offline(lib: Library, report: ScanReport) -> list[str]:
    """Forget the records kept for the offline folders of `report` whose files are really
    absent (`vectorvision scan --prune`); an offline root leaves `lib.roots`."""
    gone: list[str] = []
    for failure in report.failed:
        if failure.kept:
            gone += [p for p in lib.paths if under(p, failure.path) and not os.path.lexists(p)]
    if report.offline and report.folder in lib.roots:
        lib.roots.remove(report.folder)
    lib.remove(gone)
    return gone


def rescan(
    lib: Library,
    encoders: Encoders,
    folders: Sequence[str | os.PathLike[str]] | None = None,
    *,
    force: bool = False,
    engine: str = "local",
    ray_address: str | None = None,
    prune: bool = False,
    progress: bool = False,
    on_progress: ProgressCallback | None = None,
    on_report: Callable[[ScanReport, list[str]], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    on_wait: Callable[[str], None] | None = None,
    refresh_metadata: bool = False,
) -> Rescan:
    """Scan `folders` (default: `lib.roots`) into `lib` and save it to `lib.path`.

    `force`, `engine`, `ray_address`, `progress` and `on_progress` as in `vv.scan`; `prune`
    forgets the records of offline folders (`prune_offline`); `on_report(report, pruned)` after
    each folder; `cancelled()` is asked before each folder; `on_wait(message)` once if another
    writer holds the lock. Stops at the first interrupted folder. Errors raised before anything
    changed propagate; after that they are returned in `Rescan.error`, with the work saved.
    `refresh_metadata`: first re-read the photo metadata of unchanged files (no re-embedding;
    `Rescan.refreshed` counts them), saved like any other change.
    """
    todo = list(lib.roots) if folders is None else [os.fspath(f) for f in folders]
    out = Rescan()
    lock = lib.lock(on_wait=on_wait) if lib.path else contextlib.nullcontext()
    with lock:
        before, empty = lib.version, not len(lib)
        state = _saved_state(lib)
        try:
            if refresh_metadata:
                from vectorvision_widget.scanning.metadata import refresh_metadata as refresh

                out.refreshed = sum(refresh(lib, folder, progress=progress) for folder in todo)
            for folder in todo:
                if cancelled is not None and cancelled():
                    break
                report = engines.scan(
                    folder,
                    lib,
                    encoders=encoders,
                    force=force,
                    engine=engine,
                    ray_address=ray_address,
                    progress=progress,
                    on_progress=on_progress,
                )
                out.reports.append(report)
                pruned = prune_offline(lib, report) if prune else []
                if on_report is not None:
                    on_report(report, pruned)
                if report.interrupted:
                    out.interrupted = True
                    break
        except KeyboardInterrupt:
            out.interrupted = True
        except Exception as exc:
            if not _rows_changed(lib, before, empty):  # nothing to keep
                raise
            out.error = exc
        finished = not out.interrupted and out.error is None
        if lib.path and (
            _rows_changed(lib, before, empty) or (finished and _worth_a_file(lib, state))
        ):
            try:
                out.saved = lib.save()
            except InterruptedAfterSave as stop:  # Ctrl-C while writing: the file is complete
                out.saved, out.interrupted = Path(stop.path), True
    return out


def _rows_changed(lib: Library, before: int, empty: bool) -> bool:
    """Whether rows changed since `lib.version` was `before`; an empty library that is still
    empty has none (a scan registers its models first, which counts as a change)."""
    return lib.version != before and not (empty and not len(lib))


def _worth_a_file(lib: Library, state: tuple[object, ...]) -> bool:
    """After a finished run that changed no row: save only when the roots or failures changed,
    or the library has no file yet (a scan of an empty folder still records its root)."""
    return _saved_state(lib) != state or not os.path.lexists(os.fspath(lib.path or ""))


def _saved_state(lib: Library) -> tuple[object, ...]:
    """What a save writes, cheaply compared: rows and models (`lib.version`), roots, failures
    (as a set: a rescan lists one root's failures again, after the others')."""
    failures = sorted((str(f.get("path")), str(f.get("error"))) for f in lib.failures)
    return (lib.version, tuple(lib.roots), tuple(failures))
