"""The scan procedure, written once for every engine.

`run_scan(folder, lib, engine, ...)` plans (`plan.plan_scan`: the incremental rules), removes
the records of files really gone, hands the files to embed to an `Engine`, and applies what the
engine delivers through `Results`: keywords, one complete row per upsert (keeping the tags of a
re-embedded file), failures (a file that
changed into something unreadable loses its stale record), progress (a tqdm bar and the
`on_progress(done, total, path)` callback), scan-time thumbnails. Ctrl-C stops the engine and
keeps what was done (`report.interrupted`); the thumbnails are flushed and `lib.failures` is
brought up to date in every case. Saving is the caller's (`rescan` saves under the writer lock).

An engine only turns planned files into results: `LocalEngine` (threads on this machine,
`local.py`) and `RayEngine` (Ray Data, `ray.py`). Both go through this procedure, so they give
the same report and the same library.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from vectorvision_widget.models.keywords import KeywordTagger
from vectorvision_widget.scanning.files import Failure, Prepared, ThumbMaker, Trace
from vectorvision_widget.scanning.plan import ScanPlan, plan_scan, resolve_root, under

if TYPE_CHECKING:
    from vectorvision_widget.library.store import Library
    from vectorvision_widget.models.encoders import Encoders

__all__ = [
    "Embedded",
    "Engine",
    "ProgressCallback",
    "Results",
    "ScanReport",
    "ThumbSink",
    "Work",
    "resolve_thumbs",
    "run_scan",
    "scan_estimate",
]

ProgressCallback = Callable[[int, int, str], None]

ESTIMATE_ABOVE = 1_000
"""Before embedding more than this many images a scan says how long it should take (a short
measured warm-up of the models on this machine); the progress bar then shows the real rate."""
_WARMUP_IMAGES = 4


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
    trace: Trace = field(default_factory=list)

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


class ThumbSink(Protocol):
    """Where scan-time thumbnails go (`thumbs.cache.ThumbWriter`): `make` runs in the workers
    (picklable for Ray), `add` for each stored image, `flush` at the end (also after Ctrl-C)."""

    @property
    def make(self) -> ThumbMaker: ...

    def add(self, prepared: Prepared) -> None: ...

    def flush(self, *, keep: Iterable[str] | None = None, compact: bool = True) -> None: ...


def resolve_thumbs(lib: Library, thumbs: ThumbSink | bool | None) -> ThumbSink | None:
    """The thumbnail sink of a scan: `thumbs` itself, None for a library with a path
    (`lib.path`: a `ThumbWriter` beside it), False for none."""
    if thumbs is False:
        return None
    if thumbs is not None and thumbs is not True:
        return thumbs
    if not lib.path:
        return None
    from vectorvision_widget.thumbs.cache import ThumbWriter

    return ThumbWriter(lib.path)


@dataclass(frozen=True)
class Embedded:
    """One file an engine prepared and embedded: its record and both unit vectors."""

    prepared: Prepared
    features: np.ndarray
    visual: np.ndarray


@dataclass(frozen=True)
class Work:
    """What an engine is asked to do: embed `plan.embed` (sizes and mtimes in `plan.found`)."""

    plan: ScanPlan
    encoders: Encoders
    batch_size: int
    thumbs: ThumbMaker | None  #: runs on the workers after decoding
    trace: Trace | None  #: the report's trace when tracing, else None

    @property
    def files(self) -> list[str]:
        return self.plan.embed


class Engine(Protocol):
    """Turns planned files into results; everything else is the procedure's."""

    #: shown in the progress bar ("scanning", "scanning (ray)")
    label: str

    def run(self, work: Work, results: Results) -> None:
        """Prepare and embed `work.files`, delivering each file once, in order, to `results`
        (`embedded` in batches, or `tag` a batch and `store` each file; `failed`; then
        `examined` per file). Adds engine timings to
        `results.timings` (`decode_s`, `decode_wait_s`, `inference_s`; the procedure keeps
        `keywords_s`) and intervals to `results.trace` when tracing. May raise
        KeyboardInterrupt: what was delivered stays."""
        ...


class Results:
    """The procedure's side of an engine: applies each delivered result to the library and the
    report, on the calling thread, one complete row at a time."""

    def __init__(
        self,
        lib: Library,
        report: ScanReport,
        tagger: KeywordTagger,
        *,
        total: int,
        on_progress: ProgressCallback | None,
        bar: Any,
        thumbs: ThumbSink | None,
        trace: Trace | None,
    ) -> None:
        self.lib, self.report, self.tagger, self.total = lib, report, tagger, total
        self.on_progress, self.bar, self.thumbs, self.trace = on_progress, bar, thumbs, trace
        self.timings = report.timings
        self.done = 0

    def embedded(self, batch: Sequence[Embedded]) -> None:
        """Tag a batch and store each file (`tag`, then `store` per file)."""
        for item, keywords in zip(batch, self.tag(batch), strict=True):
            self.store(item, keywords)

    def tag(self, batch: Sequence[Embedded]) -> list[list[dict[str, Any]]]:
        """Keywords of each file of a batch, in one call (timed as `keywords_s`)."""
        if not batch:
            return []
        t0 = time.perf_counter()
        tags = self.tagger.tag(np.stack([e.features for e in batch]))
        self.timings["keywords_s"] += time.perf_counter() - t0
        return tags

    def store(self, item: Embedded, keywords: list[dict[str, Any]]) -> None:
        """Upsert one file (one complete row) and its thumbnails; a refused row is a failure."""
        prepared = item.prepared
        row = self.lib.row_of(prepared.path)
        existed = row is not None
        try:
            record = {**prepared.record, "keywords": keywords}
            tags = self.lib.records[row].get("tags") if row is not None else None
            if tags:  # a person's tags outlive re-embedding the changed file
                record["tags"] = tags
            self.lib.upsert(record, item.features, item.visual)
        except ValueError as exc:  # e.g. a model that returned NaN for this one image
            self.failed(Failure(prepared.path, f"cannot store its vectors ({exc})"))
            return
        (self.report.updated if existed else self.report.added).append(prepared.path)
        if self.thumbs is not None:
            self.thumbs.add(prepared)

    def failed(self, failure: Failure) -> None:
        """Note a failed file; a record of a file that changed into something unreadable goes."""
        self.report.failed.append(failure)
        if not failure.kept and self.lib.row_of(failure.path) is not None:
            self.lib.remove(failure.path)  # never keep the stale record of a file not re-embedded
            self.report.removed.append(failure.path)

    def examined(self, path: str) -> None:
        """One more file done (embedded or failed): the bar and `on_progress`."""
        self.done += 1
        self.bar.update(1)
        if self.on_progress is not None:
            self.on_progress(self.done, self.total, path)


def run_scan(
    folder: str | os.PathLike[str],
    lib: Library,
    engine: Engine,
    *,
    encoders: Encoders | None = None,
    force: bool = False,
    keywords: Sequence[str] | KeywordTagger | None = None,
    progress: bool = True,
    on_progress: ProgressCallback | None = None,
    batch_size: int | None = None,
    trace: bool = False,
    thumbs: ThumbSink | bool | None = None,
) -> ScanReport:
    """Scan `folder` into `lib` with `engine` (see the module docstring and `vv.scan`)."""
    t_start = time.perf_counter()
    if encoders is None:
        from vectorvision_widget.models.encoders import Encoders

        encoders = Encoders.load()
    sink = resolve_thumbs(lib, thumbs)
    try:
        plan = plan_scan(folder, lib, encoders=encoders, force=force)
    except KeyboardInterrupt:  # nothing changed yet
        return ScanReport(folder=resolve_root(folder), interrupted=True)
    report = ScanReport(folder=plan.root, unchanged=plan.unchanged, offline=plan.offline)
    report.timings.update(decode_s=0.0, decode_wait_s=0.0, inference_s=0.0, keywords_s=0.0)
    try:
        report.failed.extend(plan.failed)
        if plan.remove:
            lib.remove(plan.remove)
            report.removed.extend(plan.remove)
        if isinstance(keywords, KeywordTagger):
            tagger = keywords
        else:
            tagger = KeywordTagger(encoders, keywords)
        if plan.embed:
            work = Work(
                plan=plan,
                encoders=encoders,
                batch_size=batch_size or encoders.batch_size,
                thumbs=sink.make if sink is not None else None,
                trace=report.trace if trace else None,
            )
            _run_engine(engine, work, lib, report, tagger, sink, progress, on_progress)
    except KeyboardInterrupt:
        report.interrupted = True
    finally:
        if sink is not None:
            sink.flush(keep=lib.paths)
    return _finish(lib, plan, report, t_start)


def _run_engine(
    engine: Engine,
    work: Work,
    lib: Library,
    report: ScanReport,
    tagger: KeywordTagger,
    sink: ThumbSink | None,
    progress: bool,
    on_progress: ProgressCallback | None,
) -> None:
    """Run `engine` over the planned files with a progress bar (closed on every exit)."""
    from tqdm.auto import tqdm

    total = len(work.files)
    if progress and total > ESTIMATE_ABOVE:
        print(scan_estimate(total, work.encoders), flush=True)
    # tqdm's bar shows images/s and the time left ([elapsed<left, rate])
    bar = tqdm(total=total, unit="img", desc=engine.label, disable=not progress)
    results = Results(
        lib,
        report,
        tagger,
        total=total,
        on_progress=on_progress,
        bar=bar,
        thumbs=sink,
        trace=work.trace,
    )
    try:
        engine.run(work, results)
    finally:
        bar.close()


def measured_rate(encoders: Encoders, n: int = _WARMUP_IMAGES) -> float:
    """Images/s of both models on this machine now: `n` synthetic images embedded twice, the
    second run timed (the first warms the sessions up). Decoding runs beside inference in a scan
    (docs/benchmarks.md: end to end ≈ 0.95 × this), so this is the scan's speed within ~10 %."""
    from PIL import Image

    rng = np.random.default_rng(0)
    images = [
        Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)) for _ in range(n)
    ]
    encoders.embed_images(images)
    t0 = time.perf_counter()
    encoders.embed_images(images)
    return n / max(time.perf_counter() - t0, 1e-6)


def _duration(seconds: float) -> str:
    minutes = seconds / 60
    if minutes < 1.5:
        return "about a minute" if seconds > 40 else "under a minute"
    if minutes < 90:
        return f"about {round(minutes)} min"
    return f"about {minutes / 60:.1f} h"


def scan_estimate(n: int, encoders: Encoders) -> str:
    """What a big scan is about to cost, said before it starts: "12,000 images to embed: about
    35 min at ~5.7 images/s (measured on this machine just now)"."""
    rate = measured_rate(encoders) * 0.95
    return (
        f"{n:,} images to embed: {_duration(n / rate)} at ~{rate:.1f} images/s (measured on this "
        "machine just now; the progress bar shows the real rate and time left)"
    )


def _finish(lib: Library, plan: ScanPlan, report: ScanReport, t_start: float) -> ScanReport:
    """Update `lib.failures` (this root's old failures are superseded, except after an
    interruption those of files not looked at again) and fill `report.timings`."""
    root = plan.root
    examined = {*report.added, *report.updated, *(f.path for f in report.failed)}

    def keep(f: dict[str, str]) -> bool:
        path = f.get("path", "")
        if not under(path, root):
            return True
        if any(under(path, k) for k in plan.kept) and path not in examined:
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
